from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.customers import services
from apps.customers.models import ContactPoint, ContactPointKind, Customer, Note, Organization, Tag
from apps.customers.services.customers import build_search_text


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Organization {n}")


class TagFactory(DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer
        skip_postgeneration_save = True  # the hook writes its one column itself

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @factory.post_generation
    def search(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.search_text = build_search_text(
                first_name=self.first_name,
                last_name=self.last_name,
                organization_name=self.organization.name if self.organization_id else "",
                contact_values=[],
            )
            Customer.objects.filter(pk=self.pk).update(search_text=self.search_text)


class PhoneFactory(DjangoModelFactory):
    class Meta:
        model = ContactPoint
        skip_postgeneration_save = True  # the hook saves the customer, not the contact point

    customer = factory.SubFactory(CustomerFactory)
    kind = ContactPointKind.PHONE
    value = factory.Sequence(lambda n: f"+1415555{n % 10000:04d}")
    is_primary = True

    @factory.post_generation
    def search(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            services.customer_refresh_search_text(customer=self.customer)


class EmailFactory(PhoneFactory):
    kind = ContactPointKind.EMAIL
    value = factory.Sequence(lambda n: f"person{n}@example.com")


class NoteFactory(DjangoModelFactory):
    class Meta:
        model = Note

    customer = factory.SubFactory(CustomerFactory)
    body = factory.Faker("sentence")
